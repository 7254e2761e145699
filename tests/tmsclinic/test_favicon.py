"""Every page names the clinic's icon, and /favicon.ico (asked for by browsers where a page names
none) leads to it rather than to a 404."""

from django.contrib.staticfiles import finders
from django.urls import reverse

from tests.factories import staff_user


def test_the_icon_exists_and_favicon_ico_leads_to_it(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("/img/favicon.svg")
    icon = finders.find("img/favicon.svg")
    with open(icon) as svg:
        assert svg.read().startswith("<svg")


def test_staff_portal_and_admin_pages_name_the_icon(client, db):
    assert 'rel="icon"' in client.get(reverse("portal:login")).content.decode()
    assert 'rel="icon"' in client.get(reverse("login")).content.decode()
    admin = staff_user(role="Clinic admin", username="clinicadmin", is_staff=True)
    client.force_login(admin)
    assert 'rel="icon"' in client.get(reverse("admin:index")).content.decode()
