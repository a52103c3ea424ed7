"""CityShare."""
