from django.urls import path

from . import views

urlpatterns = [
    path("dashboard/", views.dashboard, name="usage-dashboard"),
    path("dashboard/export/<slug:key>.csv", views.table_csv, name="usage-dashboard-csv"),
    path("dashboard/quota/", views.quota_edit, name="usage-dashboard-quota"),
    path("dashboard/prices/", views.prices_edit, name="usage-dashboard-prices"),
]
