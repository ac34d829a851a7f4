"""HistoDesk's Qt desktop app: windows, views and thread workers (imports engine/, never the reverse)."""
