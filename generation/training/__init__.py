"""Training of Studio's own small default text-to-image model.

The data comes from three emoji art sets on the npm registry, one per look (Fluent Emoji 3D, Twemoji, Noto
Emoji; ``looks.py``), composited into product shots on surfaces and backdrops (``scenes.py``, ``data.py``)
with marketing-style captions; the model is a small latent diffusion pipeline saved with the same
``save_pretrained`` layout as any Stable Diffusion checkpoint (``networks.py``, ``trainer.py``).
"""
