"""labutils: what the GAN lab book's chapters import (data, settings, checkpoints, plots, metrics, checkers).

The GANs themselves (models, losses, training loops) live in the chapters, not here.
"""

from .checkpoints import TrainingRun, start_run, training_steps
from .checks import (
    check_conditional_discriminator_step,
    check_critic_loss,
    check_cycle_loss,
    check_cyclegan_generator_step,
    check_discriminator_loss,
    check_discriminator_step,
    check_fade_in,
    check_generator_loss,
    check_generator_step,
    check_gradient_penalty,
    check_image_generator,
    check_label_maps,
    check_nearest_neighbour_distances,
    check_patchgan_output_size,
    check_pix2pix_generator_loss,
    check_slerp,
    check_spectral_norm,
    check_translator,
    check_unet_skip_shapes,
    check_weight_clipping,
    check_weights_init,
)
from .data import CLASS_NAMES, DatasetError, load_dataset, minibatches
from .evaluation import (
    classify,
    evaluate_samples,
    features,
    frechet_distance,
    get_classifier,
    real_vs_real_distance,
)
from .metrics import jensen_shannon_1d, wasserstein_1d
from .models import dcgan_weights_init, n_params
from .plotting import (
    animate,
    image_grid,
    plot_class_histograms,
    plot_density_1d,
    plot_losses,
    plot_samples_2d,
    show_images,
    show_table,
    use_book_style,
)
from .prose import claim, glue
from .results import export_samples, load_samples, save_metrics
from .sampling import generate, latent_noise
from .settings import (
    Settings,
    SettingsError,
    current,
    get_device,
    get_profile,
    get_threads,
    pick,
    run_record,
    seed_everything,
    setup,
)
from .summary import expected_ranges, finish, results_summary
from .toy import (
    gaussian_pdf,
    mixture_pdf,
    mode_statistics,
    ring_centres,
    sample_gaussian_1d,
    sample_mixture_1d,
    sample_ring,
)

__version__ = "0.1.0"
