from sessions_app.api import (
    charger_security,
    driver,
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
    + charger_security.urlpatterns
)
