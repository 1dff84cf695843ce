"""Rooms: named places for meetings on a video platform."""
