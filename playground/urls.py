from django.urls import path

from playground import views

app_name = "playground"
urlpatterns = [
    path("", views.index, name="index"),
    path("send/", views.send, name="send"),
    path("code/", views.view_code, name="code"),
    path("c/<uuid:public_id>/", views.conversation_detail, name="conversation"),
    path("c/<uuid:public_id>/regenerate/", views.regenerate, name="regenerate"),
    path("c/<uuid:public_id>/edit/", views.edit_last, name="edit"),
    path("c/<uuid:public_id>/rename/", views.rename, name="rename"),
    path("c/<uuid:public_id>/delete/", views.delete, name="delete"),
    path("r/<uuid:reply_id>/stream/", views.reply_stream, name="stream"),
    path("r/<uuid:reply_id>/stop/", views.stop, name="stop"),
    path("m/<int:message_id>/cost/", views.message_cost, name="cost"),
    path("attachments/<uuid:public_id>/", views.attachment, name="attachment"),
    path("images/", views.images, name="images"),
    path("images/<uuid:public_id>/", views.image_card, name="image"),
    path("images/<uuid:public_id>/file/", views.image_file, name="image_file"),
    path("images/<uuid:public_id>/delete/", views.image_delete, name="image_delete"),
    path("images/<uuid:public_id>/again/", views.image_again, name="image_again"),
]
