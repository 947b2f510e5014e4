"""Thin Beam wiring: one composite PTransform per stage, each calling pure rules."""
