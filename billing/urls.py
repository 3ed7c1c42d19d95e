from django.urls import path

from billing import views

urlpatterns = [
    path("", views.price_list, name="price_list"),
    path("connectors.json", views.connector_prices, name="connector_prices"),
    path("sessions/<int:pk>/estimate.json", views.session_estimate, name="session_estimate"),
]
