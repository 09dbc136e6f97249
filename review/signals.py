from django.dispatch import Signal

# Sent after a review transition commits; kwargs: asset, from_state, to_state. Delivery listens to purge
# variants of an asset that stops being approved.
asset_review_changed = Signal()

# Sent after a comment commits (a decision's comment too); kwargs: comment. Notifications listen (mentions).
comment_posted = Signal()

# Sent after an asset's focal point changes and commits; kwargs: asset. Delivery listens to purge its crops.
asset_focal_point_changed = Signal()
