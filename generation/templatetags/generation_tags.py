from django import template

from generation.engine import registry

register = template.Library()


@register.filter
def model_name(key: str) -> str:
    """``{{ request.model_key|model_name }}``: the model's name for people, not its registry key."""
    return registry.model_name(key)
