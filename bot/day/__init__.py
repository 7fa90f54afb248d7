"""The operator's day: reminders of waiting clients, quiet hours and the daily digest."""
