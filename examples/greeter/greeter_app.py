"""The greeter: counts each user's visits and writes a greeting to Kafka.

Run it locally: sfidl run examples/greeter/greeter.sfidl --app greeter_app
"""

from __future__ import annotations

import greeter_pb2 as pb
from greeter_sfidl import Greeter, GreeterApp, GreeterGreetContext


class GreeterFunction(Greeter):
    def greet(self, ctx: GreeterGreetContext, message: pb.Greet) -> None:
        seen = ctx.state.seen + 1
        ctx.state.seen = seen
        text = (
            f"Hello {message.name}!" if seen == 1 else f"Welcome back {message.name}, visit {seen}."
        )
        ctx.egress.greetings.write(pb.Greeting(name=message.name, text=text, seen=seen))


app = GreeterApp(greeter=GreeterFunction())

if __name__ == "__main__":
    app.serve(port=8000)
