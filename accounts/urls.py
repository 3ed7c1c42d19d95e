from django.urls import path

from accounts import views

urlpatterns = [
    path("", views.card_list, name="card_list"),
    path("<int:pk>/lost/", views.card_mark_lost, name="card_mark_lost"),
]
