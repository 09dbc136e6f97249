from django.dispatch import Signal

# Sent after the transaction that created new assets commits; kwargs: assets (list of Asset).
# Other apps (review) subscribe so that generation never imports them.
assets_created = Signal()
