from reporting.api import driver, operator

urlpatterns = driver.urlpatterns + operator.urlpatterns
