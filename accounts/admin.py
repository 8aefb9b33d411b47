from django.contrib import admin

from accounts.models import ModelEntry


@admin.register(ModelEntry)
class ModelEntryAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "label", "deprecated", "enabled", "updated_at"]
    list_filter = ["kind", "deprecated", "enabled"]
    search_fields = ["name", "label"]
