"""Exercise checkers: call them on your own implementation; they answer with a pass or what is wrong.

One module per chapter (`chNN_topic.py`) and the harness they share (`_harness.py`): adding a chapter's
checkers means adding its module and naming its checkers here.
"""

from ._harness import CheckFailed
from .ch01_minimax import check_discriminator_loss, check_generator_loss
from .ch02_gan_1d import check_discriminator_step, check_generator_step
from .ch03_mnist_dcgan import check_image_generator, check_slerp, check_weights_init
from .ch04_conditional import check_conditional_discriminator_step, check_label_maps
from .ch05_wgan import (
    check_critic_loss,
    check_gradient_penalty,
    check_spectral_norm,
    check_weight_clipping,
)
from .ch06_pix2pix import (
    check_patchgan_output_size,
    check_pix2pix_generator_loss,
    check_unet_skip_shapes,
)
from .ch07_cyclegan import check_cycle_loss, check_cyclegan_generator_step, check_translator
from .ch08_what_gans_learn import check_fade_in, check_nearest_neighbour_distances

__all__ = [
    "CheckFailed",
    "check_discriminator_loss",
    "check_generator_loss",
    "check_discriminator_step",
    "check_generator_step",
    "check_image_generator",
    "check_weights_init",
    "check_slerp",
    "check_label_maps",
    "check_conditional_discriminator_step",
    "check_critic_loss",
    "check_weight_clipping",
    "check_gradient_penalty",
    "check_spectral_norm",
    "check_unet_skip_shapes",
    "check_patchgan_output_size",
    "check_pix2pix_generator_loss",
    "check_cycle_loss",
    "check_translator",
    "check_cyclegan_generator_step",
    "check_nearest_neighbour_distances",
    "check_fade_in",
]
