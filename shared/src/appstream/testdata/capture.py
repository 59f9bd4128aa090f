"""Point the official SDK at a recording http.server and save the raw requests as test vectors.

Usage (venv with tests/sdk/requirements.txt): python capture.py shared/src/appstream/testdata
Also records one request signed by hand with tests/sdk/acs3.py (hand_signed_list_image.json).
"""
import http.server, json, os, sys, threading, base64
from alibabacloud_appstream_center20210901.client import Client
from alibabacloud_appstream_center20210901 import models as m
from alibabacloud_tea_openapi.utils_models import Config
from darabonba.runtime import RuntimeOptions

OUT = sys.argv[1]
SECRET = "testSecret0123456789abcdefABCDEF"
AKID = "LTAItestAccessKey01"
captured = []

class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(n)
        captured.append({
            "method": self.command,
            "target": self.path,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": body.decode("utf-8"),
        })
        resp = json.dumps({"RequestId": "CAPTURE-0001", "Success": True, "Code": "200", "Data": None}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(resp)))
        self.end_headers()
        self.wfile.write(resp)
    do_GET = do_POST
    def log_message(self, *a):
        pass

srv = http.server.HTTPServer(("127.0.0.1", 0), H)
port = srv.server_address[1]
threading.Thread(target=srv.serve_forever, daemon=True).start()
c = Client(Config(endpoint=f"127.0.0.1:{port}", protocol="HTTP", access_key_id=AKID,
                  access_key_secret=SECRET, region_id="cn-hangzhou"))
names = []
c.create_image_by_instance(m.CreateImageByInstanceRequest(
    instance_id="ai-0123abcd", instance_type="CloudDesktop", image_name="my image (v1)",
    description="golden image & friends: 100% ok", auto_clean_userdata=False, disk_type="ALL",
    tag_list=[m.CreateImageByInstanceRequestTagList(key="env", value="prod"),
              m.CreateImageByInstanceRequestTagList(key="team name", value="a/b+c")],
    product_type="CloudDesktop"))
names.append("create_image_by_instance")
c.list_image(m.ListImageRequest(image_type="User", status="AVAILABLE", page_number=2, page_size=20,
    image_name="gold", tag_list=[m.ListImageRequestTagList(key="env", value="prod")]))
names.append("list_image")
c.start_task_for_distribute_image(m.StartTaskForDistributeImageRequest(
    image_id="imgc-0123456789", version_id="iv-0123456789",
    destination_region_list=["cn-shanghai", "cn-beijing"], source_region="cn-hangzhou",
    product_type="CloudApp", retry_type="ALL"))
names.append("start_task_for_distribute_image")
c.delete_image(m.DeleteImageRequest(image_id="imgc-0123456789"))
names.append("delete_image")
os.makedirs(OUT, exist_ok=True)
for name, req in zip(names, captured):
    req["authority"] = f"127.0.0.1:{port}"
    req["access_key_id"] = AKID
    req["access_key_secret"] = SECRET
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(req, f, indent=2)
        f.write("\n")
# One request from the SDK suite's hand signer (tests/sdk/acs3.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../../tests/sdk"))
import acs3  # noqa: E402

acs3.call(f"http://127.0.0.1:{port}", "ListImage", {"PageSize": 3, "ImageName": "a b"},
          {"TagList.1.Key": "team name", "TagList.1.Value": "x/y"}, ak_id=AKID, secret=SECRET)
hand = captured[-1]
hand.update(authority=f"127.0.0.1:{port}", access_key_id=AKID, access_key_secret=SECRET)
with open(os.path.join(OUT, "hand_signed_list_image.json"), "w") as f:
    json.dump(hand, f, indent=2)
    f.write("\n")
print(port, len(captured))
