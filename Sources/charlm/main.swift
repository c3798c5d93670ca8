print("charlm")
