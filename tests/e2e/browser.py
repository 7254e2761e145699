"""Helpers of the browser tests."""


def htmx_settled(page):
    """Wait until htmx has swapped, processed and settled what it loaded: typing into a panel
    before htmx has bound its triggers sends no request (seen under load in CI)."""
    page.wait_for_function(
        "() => window.htmx && !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")


def booking_redrawn(page):
    """Wait until the booking form has been drawn again for the patient just chosen (it is
    ``aria-busy`` until then): its kind follows the patient's state only once it has."""
    page.wait_for_function("() => !document.querySelector('#booking[aria-busy]')")


def pick_patient(page, panel, text, name):
    """Type into the booking panel's patient picker and choose ``name`` from its results."""
    htmx_settled(page)
    panel.get_by_label("Patient").fill(text)
    panel.locator("#patient-listbox").get_by_role("option", name=name).click()
    booking_redrawn(page)
