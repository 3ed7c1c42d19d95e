from sessions_app.api import driver, operator

urlpatterns = driver.urlpatterns + operator.urlpatterns
