# 14.03.2026 09:05 MSK: as Russian operators write dates, 24-hour clock, the zone's abbreviation.
DATETIME_FORMAT = "d.m.Y H:i T"
SHORT_DATETIME_FORMAT = "d.m.Y H:i T"
DATE_FORMAT = "d.m.Y"
SHORT_DATE_FORMAT = "d.m.Y"
TIME_FORMAT = "H:i"
