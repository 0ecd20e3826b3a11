"""What the camera sees: QR codes, faces, landmarks, liveness evidence, embeddings."""
