"""Driver pages: the dashboard with cards, the running session and recent sessions."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from reporting.selectors import driver_dashboard


@login_required
def dashboard(request):
    return render(request, "reporting/dashboard.html", driver_dashboard(user=request.user))
