import pytest

from tests.demo.demo_command import demo_environment


@pytest.fixture
def with_pdfs():
    """Asked for by the tests that look at the demo's statements: only they render PDFs."""


@pytest.fixture
def demo_settings(request, tmp_path):
    """The settings a test that runs ``manage.py demo_data`` itself builds under (see ``demo_environment``)."""
    with demo_environment(tmp_path, pdfs="with_pdfs" in request.fixturenames):
        yield
