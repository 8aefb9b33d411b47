from django.urls import path

from playground.views import chat, code, images, streams

app_name = "playground"
urlpatterns = [
    path("r/<uuid:reply_id>/stream/", streams.reply_stream, name="stream"),
    path("m/<int:message_id>/cost/", streams.message_cost, name="cost"),
    path("", chat.index, name="index"),
    path("send/", chat.send, name="send"),
    path("code/", code.view_code, name="code"),
    path("c/<uuid:public_id>/", chat.conversation_detail, name="conversation"),
    path("c/<uuid:public_id>/regenerate/", chat.regenerate, name="regenerate"),
    path("c/<uuid:public_id>/edit/", chat.edit_last, name="edit"),
    path("c/<uuid:public_id>/results/", chat.tool_results, name="tool_results"),
    path("c/<uuid:public_id>/rename/", chat.rename, name="rename"),
    path("c/<uuid:public_id>/delete/", chat.delete, name="delete"),
    path("r/<uuid:reply_id>/stop/", streams.stop, name="stop"),
    path("attachments/<uuid:public_id>/", chat.attachment, name="attachment"),
    path("images/", images.images, name="images"),
    path("images/<uuid:public_id>/", images.image_card, name="image"),
    path("images/<uuid:public_id>/file/", images.image_file, name="image_file"),
    path("images/<uuid:public_id>/delete/", images.image_delete, name="image_delete"),
    path("images/<uuid:public_id>/again/", images.image_again, name="image_again"),
]
