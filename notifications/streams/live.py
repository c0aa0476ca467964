"""/live/: a vendor's page of payments and redemptions arriving, live.

A Django template and a small script (static/notifications/live.js, no build step): the
page logs in with the user's session (/live/login/), asks POST /api/v1/stream-tickets/
for a ticket and opens /ws/v1/events/ with it; after a drop it takes a new ticket and
resumes with after=<the last event id>. The stream itself never reads the cookie.
"""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

LOGIN_URL = "/live/login/"


@login_required(login_url=LOGIN_URL)
@ensure_csrf_cookie
def live_page(request):
    return render(request, "notifications/live.html", {"user": request.user})


class LiveLoginView(auth_views.LoginView):
    template_name = "notifications/live_login.html"
    redirect_authenticated_user = True
    next_page = "/live/"


class LiveLogoutView(auth_views.LogoutView):
    next_page = LOGIN_URL
