from django.urls import path

from gateway import views

app_name = "gateway"
urlpatterns = [
    path("chat/completions", views.chat_completions, name="chat"),
    path("async/chat/completions", views.async_chat_completions, name="async_chat"),
    path("async-result/<str:task_id>", views.async_result, name="async_result"),
    path("embeddings", views.embeddings, name="embeddings"),
    path("images/generations", views.images_generations, name="images"),
]
