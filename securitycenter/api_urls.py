"""Management API routes (DESIGN.md section 5)."""

urlpatterns = []
