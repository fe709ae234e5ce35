#include "engine/platform_builder.hpp"

#include <simgrid/kernel/routing/NetPoint.hpp>
#include <simgrid/kernel/routing/NetZoneImpl.hpp>
#include <simgrid/s4u/Host.hpp>
#include <simgrid/s4u/Link.hpp>

#include "engine/cost_model.hpp"

namespace moesim::engine {

namespace {

namespace sk = simgrid::kernel;

// A zone whose routes come from the FabricRouter. Latency is NOT reported to SimGrid (it stays 0): under CM02 a
// flow's share of a bottleneck is weighted by its route latency (TCP RTT-unfairness), which NPU fabrics do not show.
// The collective library adds the route latency analytically instead (docs/engine.md).
class RouterZone final : public sk::routing::NetZoneImpl {
 public:
  RouterZone(const std::string& name, const FabricRouter& router) : NetZoneImpl(name), router_(router) {}

  void register_endpoint(const simgrid::s4u::Host* host, int plane, int rank) {
    const unsigned long id = host->get_netpoint()->id();
    if (endpoints_.size() <= id) endpoints_.resize(id + 1, {-1, -1});
    endpoints_[id] = {plane, rank};
  }
  void set_links(std::vector<sk::resource::StandardLinkImpl*> links) { links_ = std::move(links); }

  void get_local_route(const sk::routing::NetPoint* src, const sk::routing::NetPoint* dst, sk::routing::Route* into,
                       double* /*latency*/) override {
    const Endpoint s = endpoint(src);
    const Endpoint d = endpoint(dst);
    if (s.rank < 0 || d.rank < 0) return;
    Route route;
    if (s.rank == d.rank) {  // a mirrored flow whose image returns to its sender (mirror_flows.hpp)
      if (s.plane != d.plane || !router_.loopback_route(s.plane, s.rank, route)) return;
    } else if (!router_.route(s.plane == d.plane ? s.plane : 0, s.rank, d.rank, route)) {
      return;  // validated before run
    }
    for (int i = 0; i < route.count; ++i) {
      sk::resource::StandardLinkImpl* link = links_[static_cast<std::size_t>(route.links[static_cast<std::size_t>(i)])];
      if (link) into->link_list_.push_back(link);  // nullptr: a link that can never bind (LinkSpec::binding)
    }
  }

 private:
  struct Endpoint {
    int plane;
    int rank;
  };
  Endpoint endpoint(const sk::routing::NetPoint* point) const {
    const unsigned long id = point->id();
    return id < endpoints_.size() ? endpoints_[id] : Endpoint{-1, -1};
  }
  const FabricRouter& router_;
  std::vector<Endpoint> endpoints_;
  std::vector<sk::resource::StandardLinkImpl*> links_;
};

}  // namespace

Platform build_platform(const config::TopologyConfig& topology, int num_ranks,
                        const std::vector<std::string>& forced_fabrics, const RouterOptions& options) {
  Platform platform;
  platform.router = std::make_unique<FabricRouter>(topology, num_ranks, forced_fabrics, options);
  platform.host_speed_flops = host_speed_flops(topology.device);
  const FabricRouter& router = *platform.router;

  auto* zone = new RouterZone("cluster", router);  // the first zone becomes the root; the Engine owns it
  simgrid::s4u::NetZone* iface = zone->get_iface();
  platform.hosts.reserve(static_cast<std::size_t>(router.num_planes() * num_ranks));
  for (int plane = 0; plane < router.num_planes(); ++plane) {
    for (int rank = 0; rank < num_ranks; ++rank) {
      std::string name = "r" + std::to_string(rank);
      if (plane > 0) name += "@plane" + std::to_string(plane);
      simgrid::s4u::Host* host = iface->create_host(name, platform.host_speed_flops);
      host->seal();
      zone->register_endpoint(host, plane, rank);
      platform.hosts.push_back(host);
    }
  }
  std::vector<sk::resource::StandardLinkImpl*> impls;
  impls.reserve(router.links().size());
  for (const LinkSpec& spec : router.links()) {
    if (!spec.binding) {
      impls.push_back(nullptr);
      continue;
    }
    simgrid::s4u::Link* link = iface->create_link(spec.name, spec.bandwidth_bytes_per_s);
    link->seal();
    impls.push_back(link->get_impl());
  }
  zone->set_links(std::move(impls));
  iface->seal();
  return platform;
}

}  // namespace moesim::engine
