"""Word lists the demo seed draws its factory from."""

LINES = ("Assembly 1", "Assembly 2", "Machining", "Press shop", "Paint", "Packaging", "Welding", "Moulding")
# Shift name and starting hour; each runs up to eight hours.
SHIFTS = (("early", 6), ("late", 14), ("night", 22))

# Name, SKU prefix, base price in cents, base ideal cycle time in seconds.
PRODUCT_KINDS = (
    ("Spur gear", "GR", 1250, 45.0),
    ("Hydraulic valve", "HV", 8900, 150.0),
    ("Bearing housing", "BH", 3400, 90.0),
    ("Drive shaft", "DS", 5600, 120.0),
    ("Mounting bracket", "MB", 420, 20.0),
    ("Pump impeller", "PI", 2750, 75.0),
    ("Flange coupling", "FC", 1890, 60.0),
    ("Control panel", "CP", 24900, 300.0),
    ("Sprocket", "SP", 990, 40.0),
    ("Pressure sensor", "PS", 6300, 110.0),
    ("Cable harness", "CH", 1500, 70.0),
    ("Gearbox cover", "GC", 3900, 95.0),
)
SIZES = ("S", "M", "L", "XL")

COMPANY_HEADS = ("Acme", "Northwind", "Baltic", "Rhein", "Alpine", "Harbor", "Summit", "Vector", "Meridian",
                 "Keystone", "Granite", "Atlas", "Pioneer", "Falcon", "Orion", "Elbe", "Danube", "Nordic")
COMPANY_TAILS = ("Tools", "Machinery", "Industries", "Motors", "Hydraulics", "Engineering", "Automation",
                 "Agritech", "Pumps", "Robotics", "Systems", "Works", "Supply", "Marine", "Rail")
FIRST_NAMES = ("Anna", "Ben", "Clara", "David", "Elif", "Felix", "Greta", "Hassan", "Ines", "Jonas", "Kira",
               "Luca", "Mara", "Noah", "Olga", "Paul", "Rosa", "Samir", "Tara", "Uwe", "Vera", "Wen",
               "Yusuf", "Zoe", "Dana", "Lee", "Marta", "Piotr", "Sofia", "Tomasz")
LAST_NAMES = ("Schmidt", "Novak", "Kowalski", "Meyer", "Rossi", "Yilmaz", "Jensen", "Garcia", "Okafor",
              "Horvat", "Berg", "Laine", "Costa", "Weber", "Fischer", "Nguyen", "Popescu", "Smith", "Brown",
              "Dubois", "Andersen", "Keller", "Wagner", "Moreau", "Silva", "Kim")
STREETS = ("Industriestrasse", "Harbour Road", "Mill Lane", "Station Street", "Canal Street", "Foundry Way",
           "Market Square", "Bridge Street", "Dock Road", "Forge Lane")
CITIES = ("Hamburg", "Rotterdam", "Gdansk", "Lyon", "Turin", "Brno", "Linz", "Aarhus", "Leeds", "Bilbao")
