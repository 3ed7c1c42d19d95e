from sessions_app.api import driver, operator, operator_uploads, reservations

urlpatterns = driver.urlpatterns + operator.urlpatterns + operator_uploads.urlpatterns + reservations.urlpatterns
