from django.apps import AppConfig


class AuthorityNodeConfig(AppConfig):
    name = "authorities.node"
    label = "authority_node"
    verbose_name = "Authority node"
    default_auto_field = "django.db.models.BigAutoField"
