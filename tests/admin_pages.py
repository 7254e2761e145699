"""Django admin pages in tests."""

from django.urls import reverse


def admin_url(model, page, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}", args=args)
