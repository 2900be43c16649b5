async def test_healthz(api):
    response = await api.get("/healthz")
    assert response.status == 200
    assert response.json == {"status": "ok"}


async def test_create_and_read_product(api, make):
    product = await make.product(stock_quantity=5)
    response = await api.get(f"/products/{product['id']}", role="user")
    assert response.status == 200
    assert response.json["stock_quantity"] == 5
