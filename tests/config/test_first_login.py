"""Until the admin login `make run` made has been used, the login page says where its password was
shown, and never shows the password itself."""

import pytest
from django.test import Client

HINT = "printed in the terminal where <code>make run</code> first ran"


@pytest.mark.django_db
def test_the_login_page_says_where_the_admins_password_was_shown_until_it_is_used(
    django_user_model,
):
    assert HINT not in Client().get("/accounts/login/").content.decode()  # no admin yet
    django_user_model.objects.create_superuser("admin", password="generated-password-1")
    page = Client().get("/accounts/login/").content.decode()
    assert HINT in page and "generated-password-1" not in page
    logged_in = Client().post(
        "/accounts/login/", {"username": "admin", "password": "generated-password-1"}
    )
    assert logged_in.status_code == 302
    assert HINT not in Client().get("/accounts/login/").content.decode()
