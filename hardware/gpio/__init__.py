"""Real lock and indicator backends on gpiozero (imported only when constructed)."""
