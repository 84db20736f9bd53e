"""Engineering panel routes (DESIGN.md section 6)."""

urlpatterns = []
