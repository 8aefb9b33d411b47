from django.urls import path

from gateway import views

app_name = "gateway"
urlpatterns = [
    path("chat/completions", views.chat_completions, name="chat"),
    path("embeddings", views.embeddings, name="embeddings"),
    path("images/generations", views.images_generations, name="images"),
]
