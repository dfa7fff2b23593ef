from django.urls import path

from . import views

urlpatterns = [
    path("", views.target_list, name="target-list"),
    path("add/", views.target_add, name="target-add"),
    path("<slug:name>/", views.target_detail, name="target-detail"),
    path("<slug:name>/check/", views.target_recheck, name="target-recheck"),
    path("<slug:name>/host-key/", views.target_host_key, name="target-host-key"),
    path("<slug:name>/secrets/<slug:field>/", views.target_secret, name="target-secret"),
    path("<slug:name>/package-index/", views.target_package_index, name="target-package-index"),
    path("<slug:name>/detach/", views.target_detach, name="target-detach"),
    path("<slug:name>/stop/", views.target_stop, name="target-stop"),
    path("<slug:name>/start/", views.target_start, name="target-start"),
    path("<slug:name>/delete/", views.target_delete, name="target-delete"),
    path("<slug:name>/resize/", views.target_resize, name="target-resize"),
]
