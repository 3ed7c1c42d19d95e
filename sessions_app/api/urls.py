from sessions_app.api import (
    charger_security,
    driver,
    load_management,
    local_list,
    operator,
    operator_uploads,
    operator_v201,
    reservations,
)

urlpatterns = (
    driver.urlpatterns
    + operator.urlpatterns
    + operator_uploads.urlpatterns
    + operator_v201.urlpatterns
    + reservations.urlpatterns
    + local_list.urlpatterns
    + load_management.urlpatterns
    + charger_security.urlpatterns
)
