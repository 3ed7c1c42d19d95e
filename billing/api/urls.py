from billing.api import driver, operator

urlpatterns = driver.urlpatterns + operator.urlpatterns
