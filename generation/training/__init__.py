"""Training of Studio's own small default text-to-image model (issue 4).

The data comes from the ``emoji-datasource-google`` npm package (Noto Emoji art), composited onto named
backgrounds with marketing-style captions; the model is a small latent diffusion pipeline saved with the same
``save_pretrained`` layout as any Stable Diffusion checkpoint.
"""
