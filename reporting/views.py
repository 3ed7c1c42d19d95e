"""Driver pages: the dashboard with cards, the running session and recent sessions."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from reporting.selectors import driver_dashboard


@login_required
def dashboard(request):
    if request.user.is_staff:
        return redirect("admin:index")
    return render(request, "reporting/dashboard.html", driver_dashboard(user=request.user))
