"""The shop floor: lines, shifts and shift time, stop reasons and stops, work orders, production records,
each line's live status and its feed, the shift report and the wall display's state."""
