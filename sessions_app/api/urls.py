from sessions_app.api import charger_security, driver, operator, operator_uploads, reservations

urlpatterns = (
    driver.urlpatterns
    + operator.urlpatterns
    + operator_uploads.urlpatterns
    + reservations.urlpatterns
    + charger_security.urlpatterns
)
