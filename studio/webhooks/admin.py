from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

from studio.webhooks import services
from studio.webhooks.models import EventType, WebhookAttempt, WebhookDelivery, WebhookEndpoint


class WebhookEndpointForm(forms.ModelForm):
    events = forms.MultipleChoiceField(choices=EventType.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "events", "is_active"]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = [
        "url",
        "description",
        "event_list",
        "is_active",
        "health",
        "last_success_at",
        "deliveries_link",
    ]
    list_filter = ["is_active"]
    search_fields = ["url", "description"]
    readonly_fields = ["secret", "failing_since", "last_success_at", "created_by", "created_at", "updated_at"]
    actions = ["rotate_secret"]

    def get_fields(self, request: HttpRequest, obj: WebhookEndpoint | None = None) -> tuple[str, ...]:
        fields = ("url", "description", "events", "is_active")
        return fields if obj is None else (*fields, *self.readonly_fields)

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form, change: bool) -> None:
        # The form validated through WebhookEndpoint.clean (services.validate_endpoint), as the API does.
        if not change:
            assert request.user.is_authenticated  # the admin site lets only staff in
            obj.secret = services.new_secret()
            obj.created_by = request.user
        obj.save()

    @admin.display(description="Events")
    def event_list(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.events)

    @admin.display(description="Health")
    def health(self, obj: WebhookEndpoint) -> str:
        if obj.failing_since:
            return format_html(
                '<strong style="color:#ba2121">Failing since {}</strong>',
                f"{obj.failing_since:%Y-%m-%d %H:%M}",
            )
        return "OK" if obj.is_active else "Inactive"

    @admin.display(description="Deliveries")
    def deliveries_link(self, obj: WebhookEndpoint) -> str:
        url = reverse("admin:webhooks_webhookdelivery_changelist") + f"?endpoint__id__exact={obj.pk}"
        return format_html('<a href="{}">Deliveries</a>', url)

    @admin.action(description="Rotate the signing secret", permissions=["change"])
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            services.webhook_endpoint_rotate_secret(endpoint=endpoint)
        self.message_user(
            request, f"New secrets for {queryset.count()} endpoint(s): give them to the receivers."
        )


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    readonly_fields = (
        "number",
        "started_at",
        "succeeded",
        "status_code",
        "latency_ms",
        "error",
        "response_excerpt",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "last_error",
    ]
    list_filter = ["status", "event_type", "endpoint"]
    search_fields = ["message_id", "ordering_key", "endpoint__url"]
    list_select_related = ["endpoint"]
    date_hierarchy = "created_at"
    inlines = [WebhookAttemptInline]
    actions = ["send_again"]
    change_form_template = "admin/webhooks/webhookdelivery/change_form.html"
    readonly_fields = (
        "endpoint",
        "event_type",
        "message_id",
        "ordering_key",
        "status",
        "attempts",
        "created_at",
        "next_attempt_at",
        "retry_until",
        "delivered_at",
        "last_status_code",
        "last_error",
        "body",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # deliveries come from events only

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # the record of what was sent is not edited; "send again" is its one action

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("webhooks.resend_webhookdelivery")

    @admin.action(description="Send again", permissions=["resend"])
    def send_again(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        for delivery in queryset:
            services.webhook_delivery_send_again(delivery=delivery)
        self.message_user(request, f"{len(queryset)} message(s) queued to be sent again.")

    def get_urls(self):
        return [
            path(
                "<int:delivery_id>/send-again/",
                self.admin_site.admin_view(self.send_again_view),
                name="webhooks_webhookdelivery_send_again",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None):
        extra_context = {**(extra_context or {}), "can_resend": self.has_resend_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    def send_again_view(self, request: HttpRequest, delivery_id: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_resend_permission(request):
            raise PermissionDenied
        delivery = get_object_or_404(WebhookDelivery, pk=delivery_id)
        services.webhook_delivery_send_again(delivery=delivery)
        self.message_user(request, "Queued to be sent again.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:webhooks_webhookdelivery_change", args=[delivery_id]))
