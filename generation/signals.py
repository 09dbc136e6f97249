from django.dispatch import Signal

# Sent inside the transaction that creates new assets; kwargs: assets (list of Asset). Receivers write in
# that transaction (review creates each asset's review row), so assets and their review rows commit
# together, and a receiver that raises rolls the creation back. Work that must wait for the commit (a
# notification, a webhook) belongs in the receiver's own transaction.on_commit. Other apps subscribe so
# that generation never imports them.
assets_created = Signal()

# Sent after a request reaches its final status and that commits; kwargs: request_id, status (succeeded,
# failed or canceled). Sent once per request: only the write that finishes it sends it.
request_finished = Signal()
