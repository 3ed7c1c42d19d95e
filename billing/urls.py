from django.urls import path

from billing import payment_views, statement_views, stripe_views, views

urlpatterns = [
    path("prices/", views.price_list, name="price_list"),
    path("prices/connectors.json", views.connector_prices, name="connector_prices"),
    path("prices/sessions/<int:pk>/estimate.json", views.session_estimate, name="session_estimate"),
    # Online card payment; the webhook is Stripe's (no login, no CSRF: its signature is checked).
    path("stripe/webhook/", stripe_views.stripe_webhook, name="stripe_webhook"),
    path("payments/top-up/", stripe_views.wallet_top_up_start, name="wallet_top_up_start"),
    path("payments/pay/", stripe_views.balance_pay_start, name="balance_pay_start"),
    path("payments/return/", stripe_views.checkout_return, name="checkout_return"),
    path("payments/", payment_views.payments, name="payments"),
    path("statements/", statement_views.statements, name="statements"),
    path("statements/<int:pk>.pdf", statement_views.statement_pdf, name="statement_pdf"),
]
