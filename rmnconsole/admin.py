"""Admin of the console-wide models, and the base every app's admin uses: owners and rights fixed, changes audited."""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group

from rmnconsole.core import audit
from rmnconsole.models import ApiToken, AuditEvent

# Fields that say who owns a row (and so who may cancel, resume, edit or activate it) or where its files live.
# Changing them in the admin would hand rights or files to someone else: they are set by the services only.
PROTECTED_FIELDS = (
    "user",
    "created_by",
    "acknowledged_by",
    "actor",
    "path",
    "local_path",
    "digest",
    "sha256",
)


class GuardedAdmin(admin.ModelAdmin):
    """A ModelAdmin that keeps ownership and file fields read-only and writes an AuditEvent for every change."""

    protected_fields: tuple[str, ...] = PROTECTED_FIELDS

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        names = {f.name for f in self.model._meta.get_fields()}
        return fields + [f for f in self.protected_fields if f in names and f not in fields]

    def save_model(self, request, obj, form, change):
        if not change and hasattr(obj, "created_by_id") and obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        changed = list(form.changed_data) if form is not None else []
        verb = "change" if change else "add"
        audit.record(
            request.user,
            f"admin.{verb}",
            obj,
            f"{verb} in the admin: {', '.join(changed) or 'no field changed'}",
            fields=changed,
        )

    def delete_model(self, request, obj):
        audit.record(request.user, "admin.delete", obj, f"deleted in the admin: {obj}"[:300])
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            audit.record(request.user, "admin.delete", obj, f"deleted in the admin: {obj}"[:300])
        super().delete_queryset(request, queryset)


@admin.register(ApiToken)
class ApiTokenAdmin(GuardedAdmin):
    list_display = ("prefix", "user", "name", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at", "created_at")
    search_fields = ("prefix", "name", "user__username")
    readonly_fields = ("user", "prefix", "digest", "created_at", "last_used_at", "revoked_at")
    fields = ("user", "name", "prefix", "created_at", "last_used_at", "revoked_at")
    actions = ("revoke_tokens",)

    def has_add_permission(self, request):
        # Tokens are shown once at creation, which the admin form cannot do: use `manage.py create_api_token`.
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke_tokens(self, request, queryset):
        for token in queryset:
            token.revoke()
            audit.record(
                request.user, "token.revoke", token, f"revoked token {token.prefix}… of {token.user}"
            )
        messages.success(request, f"Revoked {queryset.count()} token(s).")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("at", "actor", "action", "object_type", "object_id", "summary")
    list_filter = ("action", "object_type")
    search_fields = ("summary", "object_id", "actor__username")
    readonly_fields = [f.name for f in AuditEvent._meta.fields]
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # An audit trail that admins could prune would prove nothing.
        return False


# --- users and groups: only a superuser grants rights ---------------------------------------------------------
RIGHTS_FIELDS = ("is_staff", "is_superuser", "groups", "user_permissions")


class ConsoleUserAdmin(GuardedAdmin, UserAdmin):
    """Django's UserAdmin lets anyone with "change user" make themselves a superuser; here only a superuser can."""

    protected_fields = ()

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += [f for f in RIGHTS_FIELDS if f not in fields]
        return fields

    def has_change_permission(self, request, obj=None):
        # Setting a superuser's password is taking over the account.
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)


class ConsoleGroupAdmin(GuardedAdmin, GroupAdmin):
    """A staff user in a group could otherwise add any permission to it, and so to themselves."""

    protected_fields = ()

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields.append("permissions")
        return fields


User = get_user_model()
for model, model_admin in ((User, ConsoleUserAdmin), (Group, ConsoleGroupAdmin)):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)
